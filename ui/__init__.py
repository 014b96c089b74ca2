"""The page's logic, Streamlit-free and unit-tested: app.py lays out what these modules compute."""
