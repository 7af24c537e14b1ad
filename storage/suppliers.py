"""Suppliers as reference data: airline names and IATA codes, and hotel chains with their brands."""

from __future__ import annotations

import csv
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

_REFERENCE = Path(__file__).with_name("reference")
# "LH", "LH 400", "lh400", "4Y 123": a carrier code standing at the start, with or without a number.
_CODE = re.compile(r"^\s*([A-Z0-9]{2})(?:\s*\d{1,4}[A-Z]?)?\s*$", re.IGNORECASE)


def _folded(text: str) -> str:
    """Lower case without accents or punctuation, single spaces: "Mövenpick" and "movenpick" agree."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^\w&]+", " ", plain.casefold()).split())


@lru_cache(maxsize=1)
def _airlines() -> tuple[dict[str, str], dict[str, str]]:
    """(code → name, folded name → code), from the shipped table of carriers."""
    names: dict[str, str] = {}
    codes: dict[str, str] = {}
    with (_REFERENCE / "airlines.csv").open(encoding="utf-8") as table:
        for row in csv.DictReader(table):
            names[row["code"]] = row["name"]
            for name in [row["name"], *filter(None, row["other_names"].split(";"))]:
                codes[_folded(name)] = row["code"]
    return names, codes


@lru_cache(maxsize=4096)
def airline_code(carrier: str | None) -> str | None:
    """The IATA code of a carrier given by name ("Lufthansa"), code ("LH") or flight number ("LH 400")."""
    if not carrier or not carrier.strip():
        return None
    names, codes = _airlines()
    by_name = codes.get(_folded(carrier))
    if by_name:
        return by_name
    code = _CODE.match(carrier)
    if code and (code.group(1).upper() in names or carrier.strip().isalpha()):
        return code.group(1).upper()
    return None


def airline_name(code: str) -> str:
    """ "Lufthansa (LH)" for a known code, the code itself otherwise."""
    name = _airlines()[0].get(code.upper())
    return f"{name} ({code.upper()})" if name else code.upper()


@lru_cache(maxsize=1)
def _chains() -> dict[str, tuple[str, ...]]:
    """Folded chain name → the folded names of its brands (the chain's own name among them)."""
    chains: dict[str, tuple[str, ...]] = {}
    with (_REFERENCE / "hotel_chains.csv").open(encoding="utf-8") as table:
        for row in csv.DictReader(table):
            brands = {_folded(row["chain"]), *(_folded(b) for b in row["brands"].split(";") if b)}
            chains[_folded(row["chain"])] = tuple(sorted(brands))
    return chains


def _has_words(text: str, words: str) -> bool:
    """Whole words only: "ibis" is in "ibis Styles Berlin", not in "Hibiscus Boutique Hotel"."""
    return f" {words} " in f" {text} "


def _chain_of(folded_vendor: str) -> str | None:
    for chain, brands in _chains().items():
        if any(_has_words(folded_vendor, brand) for brand in brands):
            return chain
    return None


@lru_cache(maxsize=4096)
def hotel_matches(vendor: str | None, names: tuple[str, ...]) -> str | None:
    """The first of `names` (a hotel, brand or chain) that `vendor` belongs to, on whole words or brands."""
    if not vendor:
        return None
    folded = _folded(vendor)
    vendor_chain = _chain_of(folded)
    for name in names:
        wanted = _folded(name)
        if not wanted:
            continue
        if _has_words(folded, wanted):
            return name
        if wanted in _chains() and vendor_chain == wanted:
            return name
    return None


@lru_cache(maxsize=4096)
def supplier_matches(supplier: str | None, names: tuple[str, ...]) -> str | None:
    """The listed airline (by name or code) or hotel that `supplier` is, for allow- and block-lists."""
    if not supplier:
        return None
    code = airline_code(supplier)
    for name in names:
        if code is not None and airline_code(name) == code:
            return name
    return hotel_matches(supplier, names)
