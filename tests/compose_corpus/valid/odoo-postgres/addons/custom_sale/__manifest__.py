{
    'name': 'Custom Sale',
    'version': '17.0.1.0.0',
    'depends': ['sale'],
}
