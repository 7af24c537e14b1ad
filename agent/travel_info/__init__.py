"""Live travel information from third-party providers: weather at the destination and flight status.

    async with TravelInfo.open(TravelInfoSettings(), redis_url=redis_url) as info:
        text = await travel_info_for_trip(info, destination="Berlin", start=start, end=end, flights=[("LH1234", start)])

Provider faults never raise: lookups return `Unavailable`, which reads as "information unavailable".
"""

from agent.travel_info.models import DailyForecast, FlightPhase, FlightStatus, Place, Unavailable, Weather
from agent.travel_info.service import TravelInfo
from agent.travel_info.settings import TravelInfoSettings
from agent.travel_info.summary import describe, travel_info_for_trip
from agent.travel_info.trips import BookedFlight, booked_flights, trip_travel_note
from agent.travel_info.watch import FlightAlert, FlightWatch, WatchOutcome, alerts_for, watch_window_open

__all__ = [
    "BookedFlight",
    "DailyForecast",
    "FlightAlert",
    "FlightPhase",
    "FlightStatus",
    "FlightWatch",
    "Place",
    "TravelInfo",
    "TravelInfoSettings",
    "Unavailable",
    "WatchOutcome",
    "Weather",
    "alerts_for",
    "booked_flights",
    "describe",
    "travel_info_for_trip",
    "trip_travel_note",
    "watch_window_open",
]
