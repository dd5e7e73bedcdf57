"""API serializers per area: input validation and output shape only, no business logic."""
