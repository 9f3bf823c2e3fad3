"""Data set readers: Market-1501, DukeMTMC-reID, CUHK03, MSMT17, custom folders, synthetic."""
