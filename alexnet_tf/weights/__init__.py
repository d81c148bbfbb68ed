"""ImageNet weights: importers for the public BVLC files, the downloader, the installed copy."""
