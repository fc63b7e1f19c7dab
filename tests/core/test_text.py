def test_an_amount_agrees_with_its_noun():
    from device.core.text import amount

    assert (amount(1, "wing"), amount(0, "wing"), amount(3, "wing")) == (
        "1 wing",
        "0 wings",
        "3 wings",
    )
    assert amount(2, "specimen", "specimens") == "2 specimens"
