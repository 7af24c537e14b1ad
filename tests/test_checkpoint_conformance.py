"""LangGraph's checkpointer conformance suite, run against TenantCheckpointSaver on the real database.

The suite names its own thread ids and knows nothing of tenants, so it sees the saver through a thin view
that places its threads inside one tenant (`{tenant}:console:{thread}`) and names the thread's user, as
the conversation service does. Everything else is the product's saver as it runs.

What the saver deliberately does not offer is named below with the reason; every other test must pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.conformance import checkpointer_test, validate

from agent.checkpoints import TenantCheckpointSaver, checkpoint_saver
from storage.embedded import EmbeddedUrls
from tests.conftest import Company

HISTORY = (
    "history: only the latest checkpoint of a thread is kept; a conversation never lists or resumes its "
    "past steps, and keeping them would grow every thread with every turn"
)
TIME_TRAVEL = "time travel: an earlier checkpoint id is not kept, so it cannot be read back or forked from"
SIBLINGS = (
    "history: the suite saves several checkpoints of one thread that do not grow from each other; the "
    "saver refuses a save over a checkpoint it did not grow from (compare-and-set), by design"
)
# Every test of the suite that the saver deliberately fails, by capability, with the reason.
ABSENT: dict[str, dict[str, str]] = {
    "put": {
        "test_put_multiple_checkpoints_same_thread": HISTORY,
        "test_put_incremental_channel_update": TIME_TRAVEL,
    },
    "get_tuple": {"test_get_tuple_specific_checkpoint_id": TIME_TRAVEL},
    "list": {
        "test_list_all": HISTORY,
        "test_list_by_thread": HISTORY,
        "test_list_ordering": HISTORY,
        "test_list_metadata_filter_single_key": HISTORY,
        "test_list_metadata_filter_step": HISTORY,
        "test_list_metadata_filter_multiple_keys": SIBLINGS,
        "test_list_metadata_custom_keys": SIBLINGS,
        "test_list_before": HISTORY,
        "test_list_limit": HISTORY,
        "test_list_limit_plus_before": HISTORY,
        "test_list_combined_thread_and_filter": HISTORY,
    },
}


class SuiteThreads(TenantCheckpointSaver):
    """The saver with the suite's thread ids placed inside one tenant and saved for one of its users."""

    def __init__(self, saver: TenantCheckpointSaver, company: Company) -> None:
        super().__init__(saver.statements, serde=saver.serde)
        self.prefix = f"{company.tenant_id}:console:"
        self.user = str(company.traveler_id)

    def _in(self, config: RunnableConfig | None) -> RunnableConfig | None:
        if config is None:
            return None
        configurable = dict(config.get("configurable") or {})
        if "thread_id" in configurable:
            configurable["thread_id"] = self.prefix + str(configurable["thread_id"])
        configurable.setdefault("user_id", self.user)
        return {**config, "configurable": configurable}

    def _out(self, config: RunnableConfig | None) -> RunnableConfig | None:
        if config is None:
            return None
        configurable = dict(config.get("configurable") or {})
        configurable["thread_id"] = str(configurable["thread_id"]).removeprefix(self.prefix)
        configurable.pop("user_id", None)
        return {**config, "configurable": configurable}

    def _out_tuple(self, found: CheckpointTuple | None) -> CheckpointTuple | None:
        if found is None:
            return None
        return found._replace(config=self._out(found.config), parent_config=self._out(found.parent_config))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        inward = self._in(config)
        assert inward is not None
        return self._out_tuple(await super().aget_tuple(inward))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for found in super().alist(
            self._in(config), filter=filter, before=self._in(before), limit=limit
        ):
            out = self._out_tuple(found)
            assert out is not None
            yield out

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        inward = self._in(config)
        assert inward is not None
        saved = self._out(await super().aput(inward, checkpoint, metadata, new_versions))
        assert saved is not None
        return saved

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        inward = self._in(config)
        assert inward is not None
        await super().aput_writes(inward, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await super().adelete_thread(self.prefix + thread_id)


async def test_the_saver_passes_langgraphs_conformance_suite_except_what_it_deliberately_lacks(
    embedded: EmbeddedUrls, acme: Company
) -> None:
    @checkpointer_test(name="TenantCheckpointSaver")
    async def saver() -> AsyncIterator[TenantCheckpointSaver]:
        async with checkpoint_saver(embedded.app_database_url, max_size=2) as product_saver:
            yield SuiteThreads(product_saver, acme)

    report = await validate(saver)

    failed = {
        capability: sorted(failure.split(":", 1)[0] for failure in result.failures)
        for capability, result in report.results.items()
        if result.failures
    }
    assert failed == {capability: sorted(tests) for capability, tests in ABSENT.items()}
    for capability in ("put", "put_writes", "get_tuple", "list", "delete_thread"):
        assert report.results[capability].tests_passed > 0, capability
    assert report.results["put_writes"].passed and report.results["delete_thread"].passed
