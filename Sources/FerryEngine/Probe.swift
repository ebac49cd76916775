enum FerryEngineProbe {}
