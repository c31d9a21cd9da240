"""The REST API ``/api/v1``: object declarations and a generic engine over them."""
