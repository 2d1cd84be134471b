"""Signing in to the console in a real browser, as a person does: the login form (in English), then the page
that was asked for."""

from __future__ import annotations

from playwright.async_api import Page

from tests.factories import PASSWORD


async def sign_in_page(page: Page, base_url: str, email: str, path: str) -> None:
    """Signs `email` in through /login and waits until the console shows `path`."""
    await page.goto(f"{base_url}/login?lang=en&next={path}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base_url}{path}")
