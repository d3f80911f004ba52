"""Online payments: Click's SHOP API and Payme's Merchant API over a provider-neutral core.

``core`` holds what both share; ``click`` and ``payme`` speak each provider's protocol; ``views``
are the three callback URLs (``urls``). Money moves only through ``bookings.services``
(``start_online_payment``, ``record_payment``, ``cancel_payment_attempt``, ``refund``).
"""
