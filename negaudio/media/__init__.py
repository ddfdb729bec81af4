"""Audio, mask and noise primitives: decoding, encoding, levels, rasterising, coloured noise."""
