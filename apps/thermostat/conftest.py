# Makes the application's package importable from its tests (pytest puts this folder on sys.path).
