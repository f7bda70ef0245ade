"""Solutions to the chapters' exercises: one module per chapter (``ch03.py`` for chapter 03).

A chapter asks, the reader tries, and ``from udiffse_lite.exercises import ch03`` holds
a tested answer, so no solution is ever copied between notebooks.
"""
