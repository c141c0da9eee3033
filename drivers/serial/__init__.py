"""Serial sensor drivers: each a sans-IO frame decoder plus a thin I/O driver around a port."""
