import pytest

from services.intake.bootstrap import definition
from shared.service import ServiceKit
from shared.settings import ServiceSettings
from shared.bus.memory import MemoryBus


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"


@pytest.fixture
async def memory_bus():
    bus = MemoryBus(4)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def kit(database_url, memory_bus):
    """Intake's real runtime on a real database; started without its relay/consumer tasks so
    tests drive them step by step."""
    settings = ServiceSettings(service_name="intake", database_url=database_url, topic_partitions=4,
                               outbox_batch_size=100)
    kit = ServiceKit(definition(settings), settings, bus=memory_bus)
    await kit.start(migrate=True, consume=False, relay=False)
    yield kit
    await kit.stop()
