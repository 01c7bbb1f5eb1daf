-- Fails for every region below var('min_total') (0 by default: passes).
select * from {{ ref('region_totals') }} where total < {{ var('min_total', 0) }}
