"""The domain model, without I/O: the profile and its consent columns (:mod:`.profile`),
identifiers and their normalisation (:mod:`.identity`), ``where`` conditions (:mod:`.where`)
and segment definitions (:mod:`.segments`)."""
