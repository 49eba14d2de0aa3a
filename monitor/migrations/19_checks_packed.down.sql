DROP TABLE checks_packed;
