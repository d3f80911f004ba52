"""The API has nothing for staff to edit in the back office.

simplejwt's token blacklist registers its two tables (every refresh token ever issued, and the
revoked ones) with the admin. They are bookkeeping of signing in, not the centre's data, and would
show staff other people's tokens: they are taken out of the back office. A user's tokens are
revoked by deactivating the user (the API refuses tokens of inactive accounts).
"""

from __future__ import annotations

from django.contrib import admin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

for model in (OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
