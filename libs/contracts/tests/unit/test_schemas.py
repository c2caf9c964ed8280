from incident_contracts.schema_export import SCHEMA_DIR, stale_files


def test_committed_json_schemas_match_the_models() -> None:
    assert SCHEMA_DIR.is_dir()
    assert stale_files() == [], "JSON Schemas are stale: run `make schemas` and commit them"
