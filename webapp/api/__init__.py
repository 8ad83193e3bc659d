"""The JSON API for ERPs (`/api/v1`): organization API tokens, and endpoints that read and
change links through the same services as the dashboard."""
