"""Places people can read, and an address search that gives a point.

A point becomes "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta": the kecamatan, regency and province the
jurisdiction lookup finds it in (the same polygons and H3 fill, so a place costs one lookup, ~10 µs), written
the way Indonesian addresses abbreviate them ("Kab.", "Kota Adm.", "DKI", "Distrik" for a kecamatan in the
Papua provinces). A point outside every polygon (at sea), or a deployment without polygons, gets the area of
the nearest station, marked "near …". The names are the administrative areas of the station facts
(`Station.area`), so no polygon file is needed to read them.

The search runs over the 7,285 kecamatan and 514 regency names: accents and case are ignored, common
abbreviations are expanded ("jaksel" → Jakarta Selatan, "kab" → Kabupaten, "jatim" → Jawa Timur), every word
of the query must match a word of the place's full name (its own name first, then its regency and
province): whole, as a prefix (three letters or more), or within a typo (rapidfuzz ratio ≥ 80, five letters
or more). A match gives the area's centroid, which is also its station's point: good enough to route a
contact that has only a text address, not to navigate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz, process

from dispatch.jurisdiction import Jurisdiction
from dispatch.stations import Station, StationDirectory, StationLevel
from patroli.incidents import Incident

PAPUA_PROVINCES = frozenset({"91", "92", "93", "94", "95", "96"})  # a kecamatan is called a distrik there
PROVINCE_SHORT = {
    "Daerah Khusus Ibukota Jakarta": "DKI Jakarta",
    "Daerah Istimewa Yogyakarta": "DI Yogyakarta",
}
REGENCY_PREFIXES = (  # the longest first
    ("Kabupaten Administrasi ", "Kab. Adm. "),
    ("Kota Administrasi ", "Kota Adm. "),
    ("Kabupaten ", "Kab. "),
)
# Query words people use for places, and what they stand for (normalised: lower case, no accents).
ABBREVIATIONS = {
    "jakpus": "jakarta pusat",
    "jaksel": "jakarta selatan",
    "jakbar": "jakarta barat",
    "jaktim": "jakarta timur",
    "jakut": "jakarta utara",
    "jkt": "jakarta",
    "tangsel": "tangerang selatan",
    "kab": "kabupaten",
    "kec": "kecamatan",
    "adm": "administrasi",
    "kep": "kepulauan",
    "dki": "daerah khusus ibukota",
    "diy": "daerah istimewa yogyakarta",
    "jogja": "yogyakarta",
    "jogjakarta": "yogyakarta",
    "yogya": "yogyakarta",
    "jabar": "jawa barat",
    "jateng": "jawa tengah",
    "jatim": "jawa timur",
    "sumut": "sumatera utara",
    "sumbar": "sumatera barat",
    "sumsel": "sumatera selatan",
    "kalbar": "kalimantan barat",
    "kalteng": "kalimantan tengah",
    "kalsel": "kalimantan selatan",
    "kaltim": "kalimantan timur",
    "kaltara": "kalimantan utara",
    "sulut": "sulawesi utara",
    "sulteng": "sulawesi tengah",
    "sulsel": "sulawesi selatan",
    "sultra": "sulawesi tenggara",
    "sulbar": "sulawesi barat",
    "ntb": "nusa tenggara barat",
    "ntt": "nusa tenggara timur",
    "babel": "kepulauan bangka belitung",
    "kepri": "kepulauan riau",
}
# Words that only say what kind of area follows: they narrow the kind, they are not part of a name.
KIND_WORDS = {"kecamatan": StationLevel.POLSEK, "distrik": StationLevel.POLSEK}
# Words of a regency's name that say what kind it is: a query need not repeat them to name it whole.
GENERIC_WORDS = frozenset({"kota", "kabupaten", "administrasi", "kab", "adm"})
PREFIX_MIN = 3
FUZZY_MIN = 5
FUZZY_CUTOFF = 80.0


def normalise(text: str) -> str:
    """Lower case, accents removed, anything but letters and digits a single space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain.lower()).split())


def _words(name: str) -> frozenset[str]:
    """The words a name is found by: its own, and what its abbreviations stand for ("Kep." → kepulauan)."""
    words = normalise(name).split()
    return frozenset(words).union(*(ABBREVIATIONS[w].split() for w in words if w in ABBREVIATIONS))


def _core(name: str) -> str:
    """A name without the words that only say what kind of area it is: "kota administrasi jakarta selatan" →
    "jakarta selatan"."""
    return " ".join(w for w in normalise(name).split() if w not in GENERIC_WORDS)


def regency_label(name: str) -> str:
    for long, short in REGENCY_PREFIXES:
        if name.startswith(long):
            return short + name.removeprefix(long)
    return name


def province_label(name: str) -> str:
    return PROVINCE_SHORT.get(name, name)


@dataclass(frozen=True, slots=True)
class Place:
    label: str  # "Kec. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta"
    exact: bool  # inside the polygons; False: the area of the nearest station ("near …")
    polsek_code: str | None
    polres_code: str
    province_code: str


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    kind: str  # "kecamatan" or "regency"
    code: str  # the kecamatan or regency code (= its Polsek's or Polres's code)
    name: str  # as in the reference data: "Gambir", "Kota Administrasi Jakarta Pusat"
    label: str
    lat: float
    lon: float
    polres_code: str
    polsek_code: str | None
    score: float


@dataclass(frozen=True, slots=True)
class _Entry:
    station: Station
    label: str
    own: frozenset[str]  # the words of its own name
    words: frozenset[str]  # with its regency's and province's
    texts: tuple[str, ...]  # its name, then with its regency, then with its province: for the final ranking


@dataclass(slots=True)
class _SearchIndex:
    entries: list[_Entry]
    by_word: dict[str, set[int]]  # word → entries whose full name has it
    vocabulary: list[str]  # every word, sorted


class Places:
    """Readable places for points, incidents and stations; an address search. One per dispatcher."""

    def __init__(self, stations: StationDirectory, jurisdiction: Jurisdiction) -> None:
        self._stations = stations
        self._jurisdiction = jurisdiction
        self._labels: dict[str, str] = {}  # station code → label: an export labels 86,400 points a day

    @cached_property
    def _index(self) -> _SearchIndex:
        """Built on the first search (about 0.5 s for 7,799 places), not by every process that only labels."""
        index = _SearchIndex([], {}, [])
        for s in (*self._stations.polres(), *self._stations.polsek()):
            chain = self._stations.chain(s.code)
            own = _words(self._names(s))
            words = own.union(*(_words(self._names(c)) for c in chain[1:-1]))
            cores = [_core(c.area or c.name) for c in chain[:-1]]
            texts = tuple(" ".join(cores[: n + 1]) for n in range(len(cores)))
            index.entries.append(_Entry(s, self.station_label(s.code), own, words, texts))
            for w in words:
                index.by_word.setdefault(w, set()).add(len(index.entries) - 1)
        index.vocabulary.extend(sorted(index.by_word))
        return index

    # -- places --
    def station_label(self, code: str) -> str:
        """The readable name of the area a Polsek, Polres or Polda covers, with what it lies in."""
        known = self._labels.get(code)
        if known is not None:
            return known
        parts = []
        for s in self._stations.chain(code):
            if s.level is StationLevel.POLSEK:
                kind = "Distrik" if s.province_code in PAPUA_PROVINCES else "Kec."
                parts.append(f"{kind} {s.area or s.name.removeprefix('Polsek ')}")
            elif s.level is StationLevel.POLRES:
                parts.append(regency_label(s.area or s.name))
            elif s.level is StationLevel.POLDA:
                parts.append(province_label(s.area or s.name))
        label = self._labels[code] = ", ".join(parts)
        return label

    def at(self, lat: float, lon: float) -> Place:
        found = self._jurisdiction.lookup(lat, lon)
        label = self.station_label(found.station.code)
        exact = found.method != "nearest"
        return Place(
            label if exact else f"near {label}",
            exact,
            found.polsek.code if found.polsek else None,
            found.polres.code,
            found.polres.province_code or "",
        )

    def label_at(self, lat: float, lon: float) -> str:
        return self.at(lat, lon).label

    def of_incident(self, inc: Incident) -> str | None:
        """Where an incident is: its point's place, or (only a text address) the area of its station."""
        if inc.lat is not None and inc.lon is not None:
            return self.at(inc.lat, inc.lon).label
        code = inc.polsek_code or inc.polres_code
        return self.station_label(code) if code in self._stations else None

    # -- search --
    def search(self, query: str, limit: int = 10) -> list[PlaceMatch]:
        """Kecamatan and regencies whose names match every word of the query, best first."""
        groups: list[tuple[str, ...]] = []  # a query word, or the phrase its abbreviation stands for
        kind: StationLevel | None = None
        for word in normalise(query).split():
            if word in KIND_WORDS or ABBREVIATIONS.get(word) in KIND_WORDS:
                kind = KIND_WORDS[ABBREVIATIONS.get(word, word)]
            else:
                groups.append(tuple(ABBREVIATIONS.get(word, word).split()))
        if not groups:
            return []
        said = " ".join(w for g in groups for w in g if w not in GENERIC_WORDS)
        scores: dict[int, float] | None = None
        named: dict[int, set[str]] = {}  # the words of its own name that the query matched
        for group in dict.fromkeys(groups):
            hit = self._group_hits(group, named)
            scores = hit if scores is None else {i: v + hit[i] for i, v in scores.items() if i in hit}
            if not scores:
                return []
        assert scores is not None
        ranked = []
        for i, score in scores.items():
            e = self._index.entries[i]
            if (kind is not None and e.station.level is not kind) or i not in named:
                continue  # only its regency or province matched: "jakarta" is not every kecamatan in Jakarta
            whole = (
                e.own - GENERIC_WORDS <= named[i]
            )  # the query names all of it: "gambir", "jakarta selatan"
            # Ties (every word matched somewhere) go to the place whose name, with its regency and province,
            # reads most like the query: "Kayoa Utara, Halmahera Selatan" is Kec. Kayoa Utara, not Kec. Kayoa
            # (whose province is Maluku Utara).
            alike = max(fuzz.token_sort_ratio(said, t) for t in e.texts)
            ranked.append((score + (2.0 if whole else 0.0), alike, e))
        ranked.sort(
            key=lambda r: (
                -r[0],
                -r[1],
                r[2].station.level is StationLevel.POLSEK,
                len(r[2].label),
                r[2].label,
            )
        )
        return [self._match(e, score) for score, _, e in ranked[:limit]]

    def _group_hits(self, group: tuple[str, ...], named: dict[int, set[str]]) -> dict[int, float]:
        """Entries that match every word of a group, with its score (the sum of the words' match qualities).
        A group wholly within an entry's own name counts as naming it: "jabar" names Jawa Barat, not the
        "Barat" of Kab. Bandung Barat."""
        score: dict[int, float] | None = None
        own_words: dict[int, set[str]] = {}
        all_own: set[int] | None = None
        for token in group:
            best: dict[int, float] = {}
            own_here: set[int] = set()
            for word, quality in self._word_matches(token).items():
                for i in self._index.by_word[word]:
                    best[i] = max(best.get(i, 0.0), quality)
                    if word in self._index.entries[i].own:
                        own_here.add(i)
                        own_words.setdefault(i, set()).add(word)
            score = best if score is None else {i: v + best[i] for i, v in score.items() if i in best}
            all_own = own_here if all_own is None else all_own & own_here
        assert score is not None and all_own is not None
        for i in all_own & score.keys():
            named.setdefault(i, set()).update(own_words[i])
        return score

    def _word_matches(self, token: str) -> dict[str, float]:
        """Vocabulary words a query word stands for, with a quality: 3 whole, 2 prefix, 1 typo."""
        found: dict[str, float] = {}
        if token in self._index.by_word:
            found[token] = 3.0
        if len(token) >= PREFIX_MIN:
            for w in self._index.vocabulary:
                if w != token and w.startswith(token):
                    found[w] = 2.0
        if not found and len(token) >= FUZZY_MIN:
            for w, score, _ in process.extract(
                token, self._index.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=5
            ):
                found[w] = 1.0 + score / 1000  # the closer the spelling, the higher
        return found

    def _match(self, e: _Entry, score: float) -> PlaceMatch:
        s = e.station
        polsek = s.level is StationLevel.POLSEK
        return PlaceMatch(
            kind="kecamatan" if polsek else "regency",
            code=s.code,
            name=s.area or s.name,
            label=e.label,
            lat=s.lat,
            lon=s.lon,
            polres_code=s.parent_code if polsek and s.parent_code else s.code,
            polsek_code=s.code if polsek else None,
            score=round(score, 3),
        )

    @staticmethod
    def _names(s: Station) -> str:
        """The words a station's area is searched by: its administrative name, and its label's short forms."""
        area = s.area or s.name
        if s.level is StationLevel.POLRES:
            return f"{area} {regency_label(area)}"
        if s.level is StationLevel.POLDA:
            return f"{area} {province_label(area)}"
        return area
