"""Binance Spot market streams: protocol core (sans-I/O), recorder I/O, loopback server.

See :mod:`binfeed.binance.protocol` for the map of modules.
"""
