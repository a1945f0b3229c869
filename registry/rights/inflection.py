"""The Finnish inflected forms of a name whose stem changes, for the erasure.

A name is found by its beginning (registry.rights.erasure): "Aho" finds
"Aholle", "Laine" "Laineen". Many Finnish forms do not begin with the name:
Virtanen -> Virtasen, Koski -> Kosken, Lahti -> Lahden, Pekka -> Pekan. For
these, `finnish_name_stems` gives the stems of the common name types, each
with the endings it takes; `inflected_name_pattern` matches a stem only where
one of those endings and the end of the word follow, so that a stem does not
wipe the ordinary words that begin like it ("koskee", "materiaali" stay).

The rules, for a name of four letters or more (a stem has three or more):
- names in -nen: the stems -se- (Virtasen, Virtaselle, Virtaset, Virtaseen),
  -s- (Virtasta, Virtasten) and the plural -si- (Virtasia, Virtasille,
  Virtasineen; not "-sin", "-sit", which are verbs: "keräsin", "erosit");
- names in a vowel + -s: -kse- and the plural -ksi- (Markuksen, Tuomakselle);
- consonant gradation of the last syllable, for names in a vowel:
  kk -> k, pp -> p, tt -> t, nk -> ng, mp -> mm, nt -> nn, lt -> ll,
  rt -> rr, ht -> hd (Pekan, Jukan, Matin, Antin, Aallon, Lahden, Lammen;
  of names in -e only the doubled ones: Atte, Aten; Laine, Laineen is found by
  its beginning), and a single k, p or t after a vowel (p also after l, r,
  h): k -> none, p -> v, t -> d, in last names and in first names in -i
  (Mäen, Rädyn, Oudin). Other first names mostly keep a single consonant
  (Mika, Mikan; Aapo, Aapon), and their weak form would often be another
  name (Mika -> Mia, Marika -> Maria). The weak stem takes only the endings
  of a closed syllable (-n, -t, -lla, -lle, -ssa, -sta, -ksi, -tta), which
  keeps "matina" from counting as Matti; of names in -o, -u, -y, -ö also the
  plural ones (Jaakoille, Aalloista);
- last names only (first names in -i inflect as Matti, Mattia, and their
  e-forms would be other names and words: Heli -> Helena, Jani -> Jane,
  Sami -> "samea"):
  - in a consonant + -i: the e-stem (Koskea, Kosken, Niemen; strong Lahtea,
    Lahteen, weak Lahden, Lahdella), unless a doubled consonant comes before
    the -i (Kauppi: the new type, Kaupin); in -ri, -li, -si of five letters
    or more also the consonant stem of the partitive (Saarta);
  - in -a/-ä of three syllables or more: the plural in -o-/-ö- (Hakaloille,
    Heikkilöiden), the families of a register's notes.

After the ending: a possessive suffix (-ni, -si, -nsa, -mme, -nne, -an/-en)
and up to two clitics (-kin, -kaan, -han, -pa, -ko), then the end of the
word. Vowel harmony is not checked: both a and ä are allowed, as names mix
them (Kotimäki, foreign names) and a misspelt ending should not keep a name.
"""

import re

VOWELS = "aeiouyäöå"


def _harmonies(*endings):
    """Each ending with a and with ä: vowel harmony is not checked."""
    return tuple(dict.fromkeys(form for e in endings for form in (e, e.replace("a", "ä"))))


#: Endings that close the syllable: after the weak grade.
CLOSED = _harmonies("n", "t", "lla", "lta", "lle", "ssa", "sta", "ksi", "tta")
#: Endings of an open syllable: after the strong grade (the partitive, the
#: essive, the illative).
OPEN = _harmonies("a", "na", "en")
#: Every ending of a vowel stem that does not gradate.
ALL = OPEN + CLOSED
#: Of a plural -i- stem: also the illative -in and the comitative -ne- with its
#: possessive suffix, but not -n or -t ("keräsin", "erosit" are verbs).
PLURAL = (*(e for e in ALL if e not in ("n", "t")), *_harmonies("in", "neen", "nensa"))
#: The plural -i- forms that close the syllable, after an -o- or -u- stem (Jaakoille).
PLURAL_CLOSED = tuple("i" + e for e in CLOSED if e not in ("n", "t"))
#: The plural of an -o- stem in an open syllable (Hakaloita, Hakaloihin).
PLURAL_OPEN = _harmonies("ja", "jen", "ita", "iden", "itten", "ihin", "ina", "ineen", "inensa")
#: After a consonant stem: the partitive and the plural genitive (Virtasta, Virtasten).
CONSONANT = _harmonies("ta", "ten")

_POSSESSIVE = r"(?:ni|si|ns[aä]|mme|nne|[aeä]n)?"
_CLITICS = r"(?:kin|k[aä][aä]n|h[aä]n|p[aä]|k[oö]){0,2}"
#: The next character is no letter (a digit or "_" ends a word, as in file names).
_WORD_END = r"(?![^\W\d_])"

#: Consonant gradation of the consonants before the last vowel.
_GRADATION = {
    "kk": "k",
    "pp": "p",
    "tt": "t",
    "nk": "ng",
    "mp": "mm",
    "nt": "nn",
    "lt": "ll",
    "rt": "rr",
    "ht": "hd",
}
#: ...and of a single k, p, t after a vowel (p also after l, r, h).
_SINGLE = {"k": "", "p": "v", "t": "d"}


def _weak_grade(name, *, single):
    """The name with the consonant of its last syllable weakened (Pekka -> Peka,
    Lahti -> Lahdi, Mäki -> Mäi), or None where nothing gradates (Koski, Tapio);
    a single k, p, t only if `single`."""
    body, vowel = name[:-1], name[-1]
    if len(body) < 2 or body[-1] in VOWELS:
        return None
    pair, before, last = body[-2:], body[-2], body[-1]
    if pair in _GRADATION:
        return body[:-2] + _GRADATION[pair] + vowel
    if single and last in _SINGLE and (before in VOWELS or (last == "p" and before in "lrh")):
        return body[:-1] + _SINGLE[last] + vowel
    return None


def _syllables(word):
    """Roughly: the runs of vowels (a diphthong or a long vowel counts once)."""
    return len(re.findall(f"[{VOWELS}]+", word))


def finnish_name_stems(name, *, last_name=True):
    """{stem: the endings it takes} for the inflected forms of a first or last
    name that do not begin with the name itself, in lower case (the rules are
    in the docstring of this module). Empty for a name that is found by its
    beginning (Laine, Johansson) or too short to tell from other words (Aki)."""
    name = name.casefold()
    stems = {}

    def add(stem, endings):
        if len(stem) >= 3:
            stems[stem] = tuple(dict.fromkeys(stems.get(stem, ()) + endings))

    if len(name) < 4:
        return stems
    if name.endswith("nen"):
        base = name[:-3]
        add(base + "se", ALL)
        add(base + "s", CONSONANT)
        add(base + "si", PLURAL)
        return stems
    if name[-1] == "s":
        if name[-2] in VOWELS:
            add(name[:-1] + "kse", ALL)
            add(name[:-1] + "ksi", PLURAL)
        return stems
    if name[-1] not in VOWELS:
        return stems
    weak = _weak_grade(name, single=last_name or name[-1] == "i")
    if name[-1] == "e":
        # Found by their beginning (Laine, Laineen), but for a doubled k, p, t (Atte, Aten).
        if weak and name[-3] == name[-2]:
            add(weak, CLOSED)
        return stems
    if weak:
        add(weak, CLOSED + (PLURAL_CLOSED if name[-1] in "ouyö" else ()))
    if not last_name:
        return stems
    if name[-1] == "i" and name[-2] not in VOWELS and name[-2] != name[-3]:
        if weak:
            add(name[:-1] + "e", OPEN)
            add(weak[:-1] + "e", CLOSED)
        else:
            add(name[:-1] + "e", ALL)
        if name[-2] in "lrs" and len(name) >= 5:
            add(name[:-1], CONSONANT)
    if name[-1] in "aä" and _syllables(name) >= 3:
        plural = "o" if name[-1] == "a" else "ö"
        if weak:
            add(name[:-1] + plural, PLURAL_OPEN)
            add(weak[:-1] + plural, PLURAL_CLOSED)
        else:
            add(name[:-1] + plural, PLURAL_OPEN + PLURAL_CLOSED)
    return stems


def inflected_name_pattern(name, *, last_name=True):
    """A regular expression (text, to be compiled case-insensitively) that
    matches the stem of each inflected form of the name given by
    `finnish_name_stems`, where one of its endings and the end of the word
    follow; the ending is not part of the match. None if the name has no
    such stems. Whether a word starts before the stem is the caller's to say."""
    stems = finnish_name_stems(name, last_name=last_name)
    if not stems:
        return None
    alternatives = []
    for stem, endings in sorted(stems.items(), key=lambda item: -len(item[0])):
        ending = "|".join(sorted(endings, key=len, reverse=True))
        alternatives.append(
            rf"{re.escape(stem)}(?=(?:{ending}){_POSSESSIVE}{_CLITICS}{_WORD_END})"
        )
    return "(?:" + "|".join(alternatives) + ")"
