import json

from shared.auth import KEY_LENGTH, PREFIX, generate_key, hash_key, parse_key
from shared.observability import configure_logging, get_logger, mask_personal_numbers


def test_keys_are_prefixed_and_checksummed():
    issued = generate_key()
    assert issued.plaintext.startswith(PREFIX) and len(issued.plaintext) == KEY_LENGTH
    assert parse_key(issued.plaintext) == issued.key_id
    tampered = issued.plaintext[:-7] + ("A" if issued.plaintext[-7] != "A" else "B") + issued.plaintext[-6:]
    assert parse_key(tampered) is None
    assert parse_key("osk_short") is None and parse_key("x" * KEY_LENGTH) is None
    assert hash_key(issued.plaintext) != issued.plaintext and len(hash_key(issued.plaintext)) == 64


def test_citizen_numbers_never_reach_the_log(capsys):
    assert mask_personal_numbers("CCCD 001099012345, phone 0912345678") == "CCCD *********345, phone *******678"
    assert mask_personal_numbers("dossier 000.17.22.H56-210531-0001") == "dossier 000.17.22.H56-210531-0001"
    configure_logging("INFO", json=True)
    get_logger("t").info("lookup", citizen={"id": "001099012345"}, note="gọi 0912345678")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "001099012345" not in json.dumps(line) and "0912345678" not in json.dumps(line)
    assert line["citizen"]["id"].endswith("345")
