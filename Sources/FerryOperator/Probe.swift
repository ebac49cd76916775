enum FerryOperatorProbe {}
