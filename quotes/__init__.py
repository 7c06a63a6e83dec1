"""Quotes and compliant selling: product rules, rate tables, eligibility, pricing, proof of display.

A plain library (never imports Rasa or FastAPI): the action server (actions/quote*.py) and the web
service (web/routes/quotes.py) both call it. Modules, one job each:

- catalogue   product facts from products.yml (ages, regions, options) as typed objects
- rates       versioned rate tables (knowledge/content/rates/*.yml): loading and validation
- eligibility suitability rules: refusal reasons and an alternative product
- pricing     premium + breakdown from a rate table
- clauses     exclusions summary, clause citation and waiting period from the clause documents
- service     QuoteService: the one entry point (request -> QuoteResult), quote ids and validity
- messages    the Chinese quote / refusal message shown to users
- audit       the proof-of-display record (application DB)
- parsing     free text -> quote facts ("我妈58岁想买百万医疗 月缴")
- form_plan   which facts each product needs, in which order, and how answers update them
"""
