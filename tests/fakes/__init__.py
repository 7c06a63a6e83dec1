"""Fakes for the edge we cannot reach in tests: WeChat's and WeCom's servers (real HTTP, real protocol)."""
