"""Components that ship with the engine (namespace ``core``), registered like any thematic module's."""
