from tests.api_fixtures import api_fixture, store_fixture

__all__ = ["api_fixture", "store_fixture"]
