"""Documented response pieces of Open-Meteo and AeroDataBox that the fake providers serve.

Geocoding results carry the GeoNames-based fields of open-meteo.com/en/docs/geocoding-api; airports are
AeroDataBox ListingAirportContract objects as they appear inside a FlightContract's departure and arrival.
"""

from __future__ import annotations

from typing import Any

DAILY_UNITS = {
    "time": "iso8601",
    "weather_code": "wmo code",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
    "precipitation_probability_max": "%",
}

PLACES: dict[str, dict[str, Any]] = {
    "berlin": {
        "id": 2950159,
        "name": "Berlin",
        "latitude": 52.52437,
        "longitude": 13.41053,
        "elevation": 74.0,
        "feature_code": "PPLC",
        "country_code": "DE",
        "admin1_id": 2950157,
        "admin3_id": 6547383,
        "admin4_id": 6547539,
        "timezone": "Europe/Berlin",
        "population": 3426354,
        "postcodes": ["10967", "13347"],
        "country_id": 2921044,
        "country": "Germany",
        "admin1": "Land Berlin",
        "admin3": "Berlin, Stadt",
        "admin4": "Berlin",
    },
    "paris": {
        "id": 2988507,
        "name": "Paris",
        "latitude": 48.85341,
        "longitude": 2.3488,
        "elevation": 42.0,
        "feature_code": "PPLC",
        "country_code": "FR",
        "admin1_id": 3012874,
        "admin2_id": 2968815,
        "timezone": "Europe/Paris",
        "population": 2138551,
        "country_id": 3017382,
        "country": "France",
        "admin1": "Île-de-France",
        "admin2": "Paris",
    },
    "london": {
        "id": 2643743,
        "name": "London",
        "latitude": 51.50853,
        "longitude": -0.12574,
        "elevation": 25.0,
        "feature_code": "PPLC",
        "country_code": "GB",
        "admin1_id": 6269131,
        "timezone": "Europe/London",
        "population": 8961989,
        "country_id": 2635167,
        "country": "United Kingdom",
        "admin1": "England",
    },
}

AIRPORTS: dict[str, dict[str, Any]] = {
    "FRA": {
        "icao": "EDDF",
        "iata": "FRA",
        "name": "Frankfurt-am-Main",
        "shortName": "Frankfurt-am-Main",
        "municipalityName": "Frankfurt-am-Main",
        "location": {"lat": 50.0264, "lon": 8.543129},
        "countryCode": "DE",
        "timeZone": "Europe/Berlin",
    },
    "BER": {
        "icao": "EDDB",
        "iata": "BER",
        "name": "Berlin Brandenburg",
        "shortName": "Brandenburg",
        "municipalityName": "Berlin",
        "location": {"lat": 52.35139, "lon": 13.493889},
        "countryCode": "DE",
        "timeZone": "Europe/Berlin",
    },
    "LHR": {
        "icao": "EGLL",
        "iata": "LHR",
        "name": "London Heathrow",
        "shortName": "Heathrow",
        "municipalityName": "London",
        "location": {"lat": 51.4706, "lon": -0.461941},
        "countryCode": "GB",
        "timeZone": "Europe/London",
    },
}
