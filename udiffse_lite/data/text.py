"""A tiny sentence generator: word lists and a small grammar, written for this course.

Every sentence the teaching corpus speaks comes from here, so the corpus owes
nothing to any published text. The grammar is deliberately plain English
(subject, verb, object, place, time) with enough variety in words and phones
for a lip reader to learn from: bilabial closures (``p b m``), rounded vowels
(``oo``), open vowels (``ah``) and spread vowels (``ee``) all occur often.

Also here: :func:`normalise_text`, the one gate every sentence passes before a
speech engine sees it (digits are spelled out, symbols are rejected with the
reason).

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import random
import re

_DET = ["the", "a", "my", "our", "your", "that", "this", "every", "one"]
_ADJ = ["big", "small", "old", "new", "blue", "brown", "warm", "cool", "pale", "bright",
        "quiet", "happy", "heavy", "soft", "round", "purple", "yellow", "shiny", "empty", "busy",
        "tall", "broad", "lovely", "moody", "proper", "famous", "humble", "bold", "calm", "wide"]
_NOUN = ["boat", "pumpkin", "mother", "father", "robot", "puppy", "bottle", "window", "farmer",
         "teacher", "baker", "market", "garden", "river", "pebble", "mirror", "blanket", "moon",
         "bubble", "cobbler", "pilot", "wagon", "tomato", "apple", "banana", "pillow", "zebra",
         "monkey", "balloon", "umbrella", "helmet", "engine", "piano", "hammer", "basket", "cabin",
         "lamp", "mouse", "parrot", "whale", "goose", "tulip", "melon", "poet", "nephew", "lawyer"]
_VERB_T = ["paints", "moves", "finds", "opens", "pushes", "carries", "bumps", "watches", "wipes",
           "fixes", "buys", "keeps", "follows", "throws", "borrows", "loves", "mops", "peels",
           "shows", "sells", "grabs", "polishes", "cooks", "washes", "weighs", "measures"]
_VERB_I = ["sleeps", "waits", "laughs", "shouts", "smiles", "wobbles", "bubbles", "hums",
           "falls", "yawns", "whistles", "mumbles", "jumps", "rolls", "wanders", "blinks"]
_PLACE = ["by the pool", "at home", "in the park", "on the boat", "near the mill", "under the bridge",
          "behind the barn", "over the hill", "inside the museum", "beside the road",
          "at the zoo", "in the kitchen", "on the beach", "through the woods", "along the wall"]
_TIME = ["today", "at noon", "every morning", "before lunch", "after dinner", "on monday",
         "in the evening", "by midnight", "all week", "each summer", "right now", "once more"]
_ADV = ["slowly", "boldly", "happily", "calmly", "loudly", "quietly", "proudly", "gently", "badly"]
_NAME = ["bob", "mary", "paul", "emma", "peter", "molly", "amber", "oliver", "ruth", "owen",
         "lily", "sam", "maya", "bruno", "iris", "hugo", "nora", "wolf", "abby", "luke"]


def _np(r: random.Random) -> str:
    """Noun phrase: a name, or determiner (+ adjective) + noun."""
    if r.random() < 0.25:
        return r.choice(_NAME)
    words = [r.choice(_DET)]
    if r.random() < 0.6:
        words.append(r.choice(_ADJ))
    words.append(r.choice(_NOUN))
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return " ".join(words)


def _clause(r: random.Random) -> str:
    if r.random() < 0.65:
        parts = [_np(r), r.choice(_VERB_T), _np(r)]
    else:
        parts = [_np(r), r.choice(_VERB_I)]
    if r.random() < 0.35:
        parts.append(r.choice(_ADV))
    if r.random() < 0.5:
        parts.append(r.choice(_PLACE))
    if r.random() < 0.4:
        parts.append(r.choice(_TIME))
    return " ".join(parts)


def make_sentence(r: random.Random) -> str:
    """One sentence from the grammar (one or two clauses), lower case, no punctuation.

    Args:
        r: a seeded ``random.Random``; the sentence is a deterministic function of its state.

    Returns:
        A sentence such as ``"the old baker paints a blue boat by the pool"``.

    Notebook: 10_seeing_speech.ipynb
    """
    s = _clause(r)
    if r.random() < 0.3:
        s += " " + r.choice(["and", "but", "while", "so"]) + " " + _clause(r)
    return s


def make_sentences(n: int, seed: int = 0, exclude: set[str] | None = None,
                   max_words: int = 16) -> list[str]:
    """``n`` distinct sentences, none of them in ``exclude``.

    Args:
        n: number of sentences.
        seed: seed of the generator.
        exclude: sentences that must not be produced (e.g. the training texts when
            making test sentences); it is *not* modified.
        max_words: longer sentences are drawn again (keeps utterances around 2–5 s).

    Returns:
        A list of ``n`` unique strings.

    Raises:
        RuntimeError: if the grammar cannot produce ``n`` new sentences.

    Notebook: 10_seeing_speech.ipynb
    """
    r = random.Random(seed)
    seen = set(exclude or ())
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise RuntimeError(f"could only make {len(out)} of {n} new sentences: "
                               "ask for fewer or use another seed")
        s = make_sentence(r)
        if s in seen or len(s.split()) > max_words:
            continue
        seen.add(s)
        out.append(s)
    return out


_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(k: int) -> str:
    """Spell a non-negative integer below one million (``42 -> "forty two"``).

    Notebook: 10_seeing_speech.ipynb
    """
    if k < 0 or k >= 1_000_000:
        raise ValueError(f"number {k} out of range: only 0..999999 can be spelled out")
    if k < 20:
        return _ONES[k]
    if k < 100:
        return _TENS[k // 10] + ("" if k % 10 == 0 else " " + _ONES[k % 10])
    if k < 1000:
        rest = "" if k % 100 == 0 else " " + number_to_words(k % 100)
        return _ONES[k // 100] + " hundred" + rest
    rest = "" if k % 1000 == 0 else " " + number_to_words(k % 1000)
    return number_to_words(k // 1000) + " thousand" + rest


def normalise_text(text: str) -> str:
    """Make a sentence safe for every engine: lower case letters, apostrophes and spaces only.

    Digits are spelled out, ``&`` becomes "and", sentence punctuation (``.,;:!?-``)
    becomes a space. Anything else (``$ % @ # / *`` and non-ASCII letters) is
    rejected: the engines read such symbols differently, so the phone timings
    would no longer match the text in the metadata.

    Args:
        text: the sentence.

    Returns:
        The normalised sentence, single spaces, no leading/trailing space.

    Raises:
        ValueError: empty text or a symbol that cannot be spoken, naming the symbol.

    Notebook: 10_seeing_speech.ipynb
    """
    t = text.lower().replace("&", " and ")
    t = re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group())) + " "
               if len(m.group()) <= 6 else m.group(), t)
    t = re.sub(r"[.,;:!?\-\"()]", " ", t)
    bad = sorted(set(re.sub(r"[a-z' ]", "", t)))
    if bad:
        raise ValueError(f"text {text!r} contains characters the engines cannot speak reliably: "
                         f"{''.join(bad)!r}; spell them out in words")
    t = " ".join(t.split())
    if not t:
        raise ValueError(f"text {text!r} has nothing to speak after normalisation")
    return t
