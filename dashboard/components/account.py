"""The sign-in screen and the signed-in person's box in the sidebar (sign-in on only)."""

from __future__ import annotations

import streamlit as st

from dashboard import state


def signin_screen() -> None:
    """All a visitor who has not signed in sees: what the app is, and one sign-in button."""
    st.title("Behavior Lens")
    st.write("This dashboard is private to your team. Sign in to open your own workspace.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)


def exposed_screen() -> None:
    """Shown instead of any data when sign-in is off but the server listens beyond localhost."""
    st.title("Behavior Lens")
    st.error(
        "Sign-in is off, so this dashboard only serves this machine: start it with "
        "`--server.address localhost`, or turn sign-in on (an `[auth]` section in "
        "`.streamlit/secrets.toml`, see the README) to serve a team.",
        icon=":material/lock:",
    )


def sidebar_account() -> None:
    """Who is signed in, that their data is private to them, and a sign-out button."""
    with st.sidebar.container(border=True):
        st.caption("Signed in as")
        st.text(state.display_name())  # plain text: a claim is never read as markdown
        st.caption("Your datasets and runs are private; the **Team** page shares them.")
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="account_logout")
