from stationkit import session, station  # noqa: F401  (fixtures)
