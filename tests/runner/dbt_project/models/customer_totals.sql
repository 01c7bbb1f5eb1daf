select c.id as customer_id, c.region, sum(o.amount) as total
from {{ source('loaded', 'customers') }} c
join {{ source('loaded', 'orders') }} o on o.customer_id = c.id
group by c.id, c.region
