-- Sleeps when asked (var 'sleep_seconds', PostgreSQL only): the cancel test stops dbt here.
{% if var('sleep_seconds', 0) and target.type == 'postgres' %}
{{ config(pre_hook="select pg_sleep(" ~ var('sleep_seconds') ~ ")") }}
{% endif %}
select r.label, sum(t.total) as total, count(*) as customers
from {{ ref('customer_totals') }} t
join {{ ref('regions') }} r on r.region = t.region
group by r.label
