"""The assistant domain: language detection, intent, actions, replies, translation, model providers,
hand-off."""
