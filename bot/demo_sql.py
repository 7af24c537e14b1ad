"""The set-based SQL that writes one demo tenant's travellers and completed trips, drawn from the seed."""

from __future__ import annotations

from bot.demo_catalogue import (
    AIRLINES,
    CAR_RENTALS,
    CITIES,
    CITY_CAPS,
    FIRST_NAMES,
    FX_FROM_EUR,
    HOTEL_CHAINS,
    LAST_NAMES,
    PURPOSES,
    TRAIN_OPERATORS,
)


def _sql_list(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


def _draw(tag: int, key: str = "t.g") -> str:
    """A uniform number in [0, 1) for row `key`, independent for each tag, from the run's seed."""
    return (
        f"((hashint8extended({key}, CAST(:seed AS bigint) * 64 + {tag}) & 2147483647)::float8 / 2147483648.0)"
    )


def _pick(values: tuple[str, ...], tag: int, key: str = "t.g") -> str:
    return f"({_sql_list(values)})[1 + floor({_draw(tag, key)} * {len(values)})::int]"


_CITY_ROWS = ", ".join(
    f"({n}, '{city}', '{airport}', '{region}', '{currency}', {rate})"
    for n, (city, airport, region, currency, rate) in enumerate(CITIES, start=1)
)
_CAP_AMOUNTS = " ".join(f"WHEN '{city}' THEN {amount}" for city, (_c, amount) in CITY_CAPS.items())
_CAP_CURRENCIES = " ".join(f"WHEN '{city}' THEN '{code}'" for city, (code, _a) in CITY_CAPS.items())
_FX = ", ".join(f"('{code}', {rate})" for code, rate in FX_FROM_EUR.items())

# One row per trip with every drawn fact; the statements below insert from it. The trip key g is global
# (tenant, user, trip), so each draw is a pure function of the seed and the trip's position.
_TRIPS = f"""
WITH city(n, name, airport, region, hotel_currency, hotel_eur) AS (VALUES {_CITY_ROWS}),
fx(code, rate) AS (VALUES {_FX}),
base AS (
    SELECT u.n AS user_no, k.n AS trip_no,
           ((CAST(:tenant_no AS bigint) - 1) * :users + (u.n - 1)) * :trips + (k.n - 1) AS g,
           md5(:seed || ':user:' || :tenant_no || ':' || u.n)::uuid AS user_id,
           md5(:seed || ':trip:' || :tenant_no || ':' || u.n || ':' || k.n)::uuid AS trip_id
    FROM generate_series(1, :users) u(n), generate_series(1, :trips) k(n)
),
shaped AS (
    SELECT t.*,
           -- Popular cities are visited far more often (a skewed pick), never the home city itself.
           1 + floor(power({_draw(1)}, 1.8) * {len(CITIES)})::int AS pick,
           floor(power({_draw(2)}, 1.6) * 5)::int AS base_nights,
           floor({_draw(3)} * (:years * 365 - 12))::int AS days_back,
           3 + floor(power({_draw(4)}, 0.6) * 50)::int AS lead_days,
           {_draw(5)} AS r_hotel, {_draw(6)} AS r_fare, {_draw(7)} AS r_mode, {_draw(8)} AS r_car,
           {_draw(9)} AS r_cabin, {_draw(10)} AS r_time
    FROM base t
),
placed AS (
    SELECT s.*, c.name AS city, c.airport, c.region, c.hotel_currency, c.hotel_eur,
           (c.region <> :home_region) AS long_haul,
           s.base_nights + CASE WHEN c.region <> :home_region THEN 2 ELSE 0 END AS nights
    FROM shaped s
    JOIN city c ON c.n = CASE WHEN (SELECT airport FROM city WHERE n = s.pick) = :home_airport
                              THEN s.pick % {len(CITIES)} + 1 ELSE s.pick END
),
trip AS MATERIALIZED (
    SELECT p.*,
           (CAST(:until AS date) - 1 - p.nights - p.days_back) AS start_date,
           (CAST(:until AS date) - 1 - p.days_back) AS end_date,
           (CAST(:until AS date) - 1 - p.nights - p.days_back - p.lead_days) AS booked_on,
           CASE WHEN NOT p.long_haul AND p.region = 'eu' AND :home_region = 'eu' AND p.r_mode < 0.35
                THEN 'train' ELSE 'flight' END AS transport,
           CASE WHEN p.long_haul AND p.r_cabin < 0.5 THEN 'business' ELSE 'economy' END AS cabin,
           p.r_car < 0.15 AS with_car,
           CASE WHEN p.hotel_currency = '' THEN :currency ELSE p.hotel_currency END AS hotel_cur,
           p.hotel_eur * (0.75 + 0.6 * p.r_hotel) AS nightly_eur,
           CASE WHEN p.long_haul THEN 620 ELSE 150 END * (0.7 + 0.9 * p.r_fare)
             * CASE WHEN p.long_haul AND p.r_cabin < 0.5 THEN 2.8 ELSE 1 END AS fare_eur,
           (45 + 35 * p.r_car) * (p.nights + 1) AS car_eur
    FROM placed p
),
priced AS MATERIALIZED (
    SELECT t.*,
           round((t.fare_eur * CASE WHEN t.transport = 'train' THEN 0.45 ELSE 1 END * :fx)::numeric, 2)
             AS transport_amount,
           CASE WHEN t.nights > 0 THEN round((t.nightly_eur * t.nights * :fx)::numeric, 2) END AS hotel_amount,
           CASE WHEN t.nights > 0 THEN round((t.nightly_eur * t.nights * hf.rate)::numeric, 2) END
             AS hotel_booked,
           CASE WHEN t.with_car THEN round((t.car_eur * :fx)::numeric, 2) END AS car_amount,
           CASE t.city {_CAP_AMOUNTS} ELSE CAST(:max_nightly AS numeric) END AS cap_amount,
           CASE t.city {_CAP_CURRENCIES} ELSE :currency END AS cap_currency,
           upper(substr(md5(:seed || ':ref:' || t.g), 1, 6)) AS reference,
           {_pick(AIRLINES, 11)} AS airline,
           {_pick(HOTEL_CHAINS, 12)} AS hotel_chain,
           {_pick(TRAIN_OPERATORS, 13)} AS rail,
           {_pick(CAR_RENTALS, 14)} AS rental,
           {_pick(PURPOSES, 15)} AS purpose
    FROM trip t JOIN fx hf ON hf.code = t.hotel_cur
)
"""

INSERT_TRIPS = (
    _TRIPS
    + """,
itineraries_written AS (
    INSERT INTO itineraries (tenant_id, itinerary_id, user_id, is_draft, created_at, updated_at,
                             start_date, end_date, destinations)
    SELECT :tenant, trip_id, user_id, false, booked_on + time '10:00' + r_time * interval '8 hours',
           booked_on + time '10:05' + r_time * interval '8 hours', start_date, end_date, jsonb_build_array(city)
    FROM priced
    RETURNING 1
),
details_written AS (
    INSERT INTO itinerary_details (tenant_id, itinerary_id, date, activity_type, activity_details, position)
    SELECT :tenant, p.trip_id, p.start_date, a.kind, a.details, a.position
    FROM priced p
    CROSS JOIN LATERAL (VALUES
        (1, p.transport, jsonb_build_object('description', initcap(p.transport) || ' to ' || p.city,
                                            'cost', p.transport_amount::text, 'currency', :currency,
                                            'destination', p.city)),
        (2, 'meeting', jsonb_build_object('description', initcap(p.purpose) || ' in ' || p.city, 'city', p.city))
    ) AS a(position, kind, details)
    RETURNING 1
),
bookings_written AS (
    INSERT INTO bookings (tenant_id, booking_id, itinerary_id, user_id, booking_type, booking_details,
                          status, created_at, updated_at)
    SELECT :tenant, md5(:seed || ':booking:' || p.g || ':' || b.kind)::uuid, p.trip_id, p.user_id, b.kind,
           jsonb_strip_nulls(b.details || jsonb_build_object(
               'service_date', p.start_date, 'reference', p.reference || upper(left(b.kind, 1)),
               'source', 'agent',
               'policy', CASE WHEN b.reasons = '[]'::jsonb THEN jsonb_build_object('status', 'ok', 'reasons', b.reasons)
                              ELSE jsonb_build_object('status', 'violation', 'reasons', b.reasons) END,
               'justification', CASE WHEN b.reasons <> '[]'::jsonb THEN 'Closest option to the ' || p.purpose END)),
           'confirmed', p.booked_on + time '10:05' + p.r_time * interval '8 hours',
           p.booked_on + time '10:05' + p.r_time * interval '8 hours'
    FROM priced p
    CROSS JOIN LATERAL (
        SELECT p.lead_days < :advance_days AS late
    ) lateness
    CROSS JOIN LATERAL (VALUES
        (p.transport, jsonb_build_object(
            'amount', p.transport_amount::text, 'currency', :currency,
            'description', CASE WHEN p.transport = 'train' THEN 'Return train to ' || p.city
                                ELSE 'Return flight ' || :home_airport || ' - ' || p.airport END,
            'vendor', CASE WHEN p.transport = 'train' THEN p.rail ELSE p.airline END,
            'number', CASE WHEN p.transport = 'flight' THEN p.airline || ' ' || (100 + floor(p.r_fare * 8800))::int END,
            'origin', :home_airport, 'destination', p.airport, 'end_date', p.end_date,
            'depart_at', to_char(p.start_date + time '06:30' + p.r_time * interval '4 hours', 'YYYY-MM-DD"T"HH24:MI:SS'),
            'cabin', CASE WHEN p.transport = 'flight' THEN p.cabin END),
         CASE WHEN lateness.late THEN jsonb_build_array('booked ' || p.lead_days || ' days ahead; the policy asks for ' || :advance_days)
              ELSE '[]'::jsonb END),
        ('hotel', jsonb_build_object(
            'amount', p.hotel_booked::text, 'currency', p.hotel_cur,
            'description', p.nights || ' nights at ' || p.hotel_chain || ' ' || p.city,
            'vendor', p.hotel_chain, 'city', p.city, 'nights', p.nights,
            'end_date', p.end_date),
         (CASE WHEN p.cap_currency <> p.hotel_cur
               THEN jsonb_build_array('the hotel is priced in ' || p.hotel_cur || ', so it cannot be checked against the '
                    || to_char(p.cap_amount, 'FM999990.00') || ' ' || p.cap_currency || ' cap')
               WHEN round(p.hotel_booked / p.nights, 2) > p.cap_amount
               THEN jsonb_build_array(to_char(round(p.hotel_booked / p.nights, 2), 'FM999990.00') || ' ' || p.hotel_cur
                    || ' a night is above the ' || to_char(p.cap_amount, 'FM999990.00') || ' ' || p.cap_currency || ' cap')
               ELSE '[]'::jsonb END)
         || CASE WHEN lateness.late THEN jsonb_build_array('booked ' || p.lead_days || ' days ahead; the policy asks for ' || :advance_days)
                 ELSE '[]'::jsonb END),
        ('car', jsonb_build_object(
            'amount', p.car_amount::text, 'currency', :currency,
            'description', 'Rental car in ' || p.city, 'vendor', p.rental, 'city', p.city, 'end_date', p.end_date),
         '[]'::jsonb)
    ) AS b(kind, details, reasons)
    WHERE (b.kind IN ('flight', 'train')) OR (b.kind = 'hotel' AND p.nights > 0) OR (b.kind = 'car' AND p.with_car)
    RETURNING 1
),
history_written AS (
    INSERT INTO user_travel_history (tenant_id, history_id, user_id, travel_date, destination, activities,
                                     total_spend)
    SELECT :tenant, trip_id, user_id, start_date, city, jsonb_build_array(purpose),
           transport_amount + coalesce(hotel_amount, 0) + coalesce(car_amount, 0)
    FROM priced
    RETURNING 1
),
analytics_written AS (
    INSERT INTO travel_analytics (tenant_id, analytics_id, user_id, travel_date, total_spend, categories_spend)
    SELECT :tenant, trip_id, user_id, start_date, transport_amount + coalesce(hotel_amount, 0) + coalesce(car_amount, 0),
           jsonb_strip_nulls(jsonb_build_object(transport, transport_amount::text, 'hotel', hotel_amount::text,
                                                'car', car_amount::text))
    FROM priced
    RETURNING 1
)
INSERT INTO completed_trips (tenant_id, itinerary_id, history_id, analytics_id, end_date, destination)
SELECT :tenant, trip_id, trip_id, trip_id, end_date, city
FROM priced
"""
)

INSERT_USERS = f"""
INSERT INTO users.tenant_users (tenant_id, user_id, display_name, email, role, timezone, locale)
SELECT :tenant, md5(:seed || ':user:' || :tenant_no || ':' || u.n)::uuid,
       {_pick(FIRST_NAMES, 20, "u.n + CAST(:tenant_no AS bigint) * 100000")} || ' '
         || {_pick(LAST_NAMES, 21, "u.n + CAST(:tenant_no AS bigint) * 100000")},
       'traveller' || u.n || '@' || :domain,
       CASE WHEN u.n = 1 THEN 'admin' ELSE 'traveler' END, :timezone, 'en'
FROM generate_series(1, :users) u(n)
"""
