"""The one base of every error whose message is written for the people using SKU Bridge.

Views and jobs show `str(error)` of a `DomainError` as it is; anything else is unexpected and
is logged, and the user is told so without the details.
"""


class DomainError(Exception):
    pass
