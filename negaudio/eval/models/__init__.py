"""The model zoo: EZ-VSL, SLAVC, FNAC, LVS, SSL-Align and SSL-TIE in plain torch, loading the authors' released
checkpoints (:mod:`.registry` lists them, :mod:`.adapter` runs them; docs/models.md)."""
