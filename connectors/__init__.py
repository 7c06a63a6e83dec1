"""WeChat Official Account and WeCom connectors.

Pure protocol modules (no Rasa import; importable from both venvs) plus two thin Rasa channel
classes (``wechat_channel``, ``wecom_kf_channel``) referenced by module path in credentials.yml.
"""
