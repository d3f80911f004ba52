"""simplejwt's token authentication, with the token's user read by a compiled query.

Every API request reads its user (simplejwt's ``JWTAuthentication.get_user``: the user by the
token's id, then its own checks: active, password unchanged). Building and compiling that ORM
read was half of its 0.46 ms (bench/api.py's database); the same SELECT compiled once per process
(``bookings.selectors.compiled``) leaves the database's part. simplejwt's checks are its own:
only the read it does through ``user_model.objects.get`` is answered here.
"""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt import authentication

from backoffice.models import User
from bookings.selectors.compiled import CompiledRead, Instances

_COLUMNS = Instances(User, [field.name for field in User._meta.concrete_fields])
_by_id = CompiledRead(lambda user_id: User.objects.filter(pk=user_id).values(*_COLUMNS.columns), int)


class _Users:
    """What ``get_user`` asks of the user model: ``objects.get(<id field>=...)`` and ``DoesNotExist``."""

    DoesNotExist = User.DoesNotExist

    def get(self, **lookup: Any) -> User:
        [(field, value)] = lookup.items()
        # simplejwt writes the id as a string ("42"); anything else is the ORM's to read.
        if field not in ("id", "pk") or not (isinstance(value, str) and value.isascii() and value.isdigit()):
            return User.objects.get(**lookup)
        if len(value) > 18:  # beyond any id (bigint): no such user
            raise User.DoesNotExist(f"No user with id {value}.")
        [user] = _COLUMNS(_by_id(int(value))) or [None]
        if user is None:
            raise User.DoesNotExist(f"No user with id {value}.")
        return user

    @property
    def objects(self) -> _Users:
        return self


class JWTAuthentication(authentication.JWTAuthentication):
    """``rest_framework_simplejwt``'s authentication; its user read compiled once (see above)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _Users()
