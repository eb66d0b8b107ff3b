"""The embedded mode: the whole stack on one machine without Docker (SQLite store, local Feast repo, an SMTP
sink writing ``.eml`` files, Prometheus when installed), for demos, tests and a first look."""
