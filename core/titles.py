"""Title normalisation for matching Plex shows to tracker shows.

Pure functions, no I/O. `normalize_title` maps the spellings that Plex, TVDB and TMDB use
for the same show onto one key; it deliberately does *not* touch what tells two shows
apart (years and countries are split off here but compared separately by the scorer).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_title", "split_title_year", "title_country"]

# Country suffixes seen on TVDB/Plex titles: "The Office (US)", "Shameless (UK)". A closed
# list, so that an unrelated "(TV)" or "(OG)" in a title is left alone.
_COUNTRIES = frozenset(
    {
        "US",
        "UK",
        "GB",
        "AU",
        "NZ",
        "CA",
        "IE",
        "DE",
        "AT",
        "CH",
        "FR",
        "BE",
        "NL",
        "LU",
        "ES",
        "PT",
        "IT",
        "DK",
        "SE",
        "NO",
        "FI",
        "IS",
        "PL",
        "CZ",
        "RU",
        "UA",
        "TR",
        "GR",
        "IL",
        "IN",
        "JP",
        "KR",
        "CN",
        "TW",
        "HK",
        "TH",
        "PH",
        "MX",
        "BR",
        "AR",
        "CL",
        "CO",
        "ZA",
        "NG",
    }
)

_YEAR_SUFFIX = re.compile(r"\s*[\(\[]((?:19|20)\d\d)[\)\]]\s*$")
_COUNTRY_SUFFIX = re.compile(r"\s*\(([A-Za-z]{2})\)\s*$")
# "Office, The" is how some libraries sort. English articles only, here and at the start:
# "La", "Le", "Die", "El" are also ordinary words ("Die Hart", "Le Mans") and stripping
# them would merge different shows.
_TRAILING_ARTICLE = re.compile(r"^(.+?),\s*(the|a|an)$")
# Brand prefixes that TMDB and TVDB disagree about ("Marvel's Daredevil" vs "Daredevil").
# A closed list: a generic "X's " rule would turn "Grey's Anatomy" into "anatomy".
_BRAND_PREFIX = re.compile(
    r"^(?:marvel|marvel studios|dc|tom clancy|stephen king|agatha christie|"
    r"terry pratchett|neil gaiman|jim henson|ken burns|guillermo del toro|"
    r"jordan peele|steven spielberg|john carpenter)'s?\s+(?=\S)"
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
# Letters that NFKD does not decompose into base letter + accent.
_LIGATURES = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_AMPERSAND = re.compile(r"\s*&\s*")
# Dots, apostrophes and stars vanish ("S.H.I.E.L.D." -> "shield", "M*A*S*H" -> "mash");
# every other non-word character separates words ("9-1-1" -> "9 1 1").
_SEPARATORS = re.compile(r"[\W_]+")


def split_title_year(title: str) -> tuple[str, int | None]:
    """Split a trailing "(2005)" off a title: ("Doctor Who", 2005).

    Only a year in brackets counts, so "1883" and "24" stay titles.
    """
    match = _YEAR_SUFFIX.search(title) if title.rstrip().endswith((")", "]")) else None
    if match is None:
        return title.strip(), None
    rest = title[: match.start()].strip()
    if not rest:
        return title.strip(), None
    return rest, int(match.group(1))


def title_country(title: str) -> str | None:
    """The country suffix of a title, upper case: "The Office (US)" -> "US".

    A year after the country is allowed ("The Office (US) (2005)"). "GB" is reported as
    "UK", the spelling Plex and TVDB use.
    """
    rest, _ = split_title_year(title)
    if not rest.endswith(")"):
        return None
    match = _COUNTRY_SUFFIX.search(rest)
    if match is None:
        return None
    code = match.group(1).upper()
    if code not in _COUNTRIES:
        return None
    return "UK" if code == "GB" else code


def _strip_suffixes(title: str) -> str:
    """Drop trailing "(2005)" and "(US)" in either order, as often as they appear."""
    while title.endswith((")", "]")):
        rest, year = split_title_year(title)
        country = title_country(rest)
        if country is not None:
            rest = _COUNTRY_SUFFIX.sub("", rest).strip()
        if year is None and country is None:
            return rest
        if not rest:
            return title
        title = rest
    return title


def _fold(text: str) -> str:
    """Case and accents: "Shōgun" -> "shogun", "Straße" -> "strasse"."""
    if text.isascii():
        return text.casefold()
    text = text.translate(_APOSTROPHES).casefold().translate(_LIGATURES)
    kept: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        # Accents go only on Latin, Greek and Cyrillic letters: a kana's voicing mark
        # (ガ vs カ) is a different sound, not an accent.
        if unicodedata.combining(ch) and kept and kept[-1] < "\u0530":
            continue
        kept.append(ch)
    # Recompose what NFKD split but we kept (Hangul syllables, kana).
    return unicodedata.normalize("NFC", "".join(kept))


def normalize_title(title: str) -> str:
    """A comparison key for a show title.

    Folds case, accents and punctuation, "&" to "and", drops a leading or trailing
    English article ("The Office" = "Office, The"), a trailing "(US)"/"(2005)" and a
    brand prefix ("Marvel's Daredevil" -> "daredevil"). Digits and number words are kept
    as written so "9-1-1", "911" and "Nine-Nine" stay apart. A title made only of
    punctuation keeps its folded form rather than becoming empty.
    """
    # The `in` checks skip regexes that cannot match: this runs for every tracker show.
    folded = _fold(_strip_suffixes(title.strip())).strip()
    text = folded
    if "&" in text:
        text = _AMPERSAND.sub(" and ", text)
    if "%" in text:
        text = text.replace("%", " percent")
    if "," in text:
        text = _TRAILING_ARTICLE.sub(r"\1", text)
    if "'" in text:
        text = _BRAND_PREFIX.sub("", text, count=1)
    text = text.replace(".", "").replace("'", "").replace("*", "")
    if not text.replace(" ", "").isalnum():
        text = _SEPARATORS.sub(" ", text)
    text = " ".join(text.split())
    if text.startswith(("the ", "a ", "an ")):
        text = text.split(" ", 1)[1]
    return text or " ".join(folded.split())
