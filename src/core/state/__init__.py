"""What segsync keeps between runs: the store (:mod:`.store`: open, migrate), the delivery
ledger (:mod:`.ledger`), run history (:mod:`.history`), the store's lock and work folder
(:mod:`.lock`, :mod:`.workspace`) and retention (:mod:`.retention`)."""
