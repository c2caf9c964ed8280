-- One database per service (run once, by the postgres image, on an empty data volume).
CREATE DATABASE tickets;
CREATE DATABASE notifier;
