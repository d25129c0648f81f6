"""``segsync sandbox``: every installed connector's platform simulator served on 127.0.0.1,
seeded with one synthetic audience (:mod:`.serve`), and the generator of that audience and of
the demo's data (:mod:`.synth`)."""
