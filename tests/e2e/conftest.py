from tests.callbridge_api import api_fixture

__all__ = ["api_fixture"]
