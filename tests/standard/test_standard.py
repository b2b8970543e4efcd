"""Airbyte's standard source tests (airbyte-cdk `SourceTestSuiteBase`) against host-runner."""

from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from source_feishu_wasm import SourceFeishuWasm


class TestFeishuWasm(SourceTestSuiteBase):
    connector = SourceFeishuWasm
